"""The command line and the processes behind it: cli, batch (+ its manifests), live streaming, the
viewer server."""
