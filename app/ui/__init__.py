"""PySide6 windows and the tray; the only layer (with app/worker.py) that imports Qt."""
