"""What every room uses: logging, the user's language (gettext), login autostart. No Qt."""
