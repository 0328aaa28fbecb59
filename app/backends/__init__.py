"""The two backends behind one small interface (``base.Backend``). Uses ``app.model`` only."""
