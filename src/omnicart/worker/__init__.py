"""`omnicart worker`: the background rounds, out of the web workers, one per database."""
