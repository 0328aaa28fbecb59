"""PySide6 windows and the tray. Qt is imported only here, in the thread glue (app/worker.py,
app/qt_tasks.py, app/qt_emit.py) and in app/selftest.py."""
