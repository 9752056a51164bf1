"""Host plugins (Krita, GIMP) and the one stdlib client they share; shipped as package data."""
