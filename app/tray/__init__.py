"""PySide6 windows and the tray. Qt is imported only here, in the thread glue (app/tray/worker.py,
app/tray/qt_tasks.py, app/tray/qt_emit.py) and in app/tray/selftest.py."""
