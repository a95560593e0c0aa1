"""The onboard apps. Each is a folder: ``model.py`` (what it offers), ``app.py`` (how), a README."""
