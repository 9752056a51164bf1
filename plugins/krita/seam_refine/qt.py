"""PyQt5 (Krita 5) or PyQt6 (Krita 6) behind one import: ``from .qt import QtCore, QtWidgets, ...``."""

try:
    import pykrita

    QT_MAJOR = int(pykrita.qt_major_version())
except (ImportError, AttributeError):
    QT_MAJOR = 5

if QT_MAJOR >= 6:
    from PyQt6 import QtCore, QtGui, QtWidgets
else:
    from PyQt5 import QtCore, QtGui, QtWidgets

__all__ = ["QT_MAJOR", "QtCore", "QtGui", "QtWidgets", "Qt", "QByteArray", "QTimer", "enum", "exec_dialog"]

Qt = QtCore.Qt
QByteArray = QtCore.QByteArray
QTimer = QtCore.QTimer


def enum(owner, scope, name):
    """``owner.scope.name`` (PyQt6 scoped enums) falling back to ``owner.name`` (PyQt5)."""
    scoped = getattr(owner, scope, None)
    if scoped is not None and hasattr(scoped, name):
        return getattr(scoped, name)
    return getattr(owner, name)


def exec_dialog(dialog):
    """Run a modal dialog on either binding; returns its result code."""
    run = getattr(dialog, "exec", None) or dialog.exec_
    return run()
