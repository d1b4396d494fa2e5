"""Staff users of the web console: passwords, roles, sign-in, lock-out and sessions."""
