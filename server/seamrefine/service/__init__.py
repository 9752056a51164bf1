"""The local daemon and its wire protocol: message and frame codecs, the serving loop, the pyzmq client."""
