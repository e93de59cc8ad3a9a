"""Publishing the home: the one path every publish takes (``homeport publish``, the GUI's
button, the auto-publisher), the lock that keeps it to one at a time per data dir, the
callbacks called after each publish, and the auto-publisher that ``serve`` runs."""
