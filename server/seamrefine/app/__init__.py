"""The ``seam-refine`` commands: the CLI, serve, demo, autostart, plug-in installer and daemon benchmark."""
