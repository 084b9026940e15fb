"""The jupyter_server side: REST routes over the store and export/verify jobs (tornado, jupyter_server)."""
