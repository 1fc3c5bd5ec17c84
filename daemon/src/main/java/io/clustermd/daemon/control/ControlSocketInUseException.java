package io.clustermd.daemon.control;

import io.clustermd.control.ControlSockets;

import java.io.IOException;
import java.nio.file.Path;

/** A live daemon already answers on the control socket: a second daemon for the same array must not start. */
public final class ControlSocketInUseException extends IOException {

    private static final long serialVersionUID = 1L;

    public ControlSocketInUseException(Path socket) {
        super("another clustermd daemon is running for array " + ControlSockets.nameOf(socket)
                + " (it answers on " + socket + "); stop it first with 'clusterctl stop --control " + socket + "'");
    }
}
