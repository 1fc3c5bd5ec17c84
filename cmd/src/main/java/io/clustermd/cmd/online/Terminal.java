package io.clustermd.cmd.online;

import java.io.Console;
import java.lang.reflect.Method;

/** Whether stdout is a terminal (for redrawing in place). */
final class Terminal {

    private Terminal() {
    }

    static boolean isInteractive() {
        Console c = System.console();
        if (c == null) {
            return false;
        }
        // From JDK 22 System.console() exists for redirected streams too; isTerminal() tells them apart.
        try {
            Method m = Console.class.getMethod("isTerminal");
            return (Boolean) m.invoke(c);
        } catch (ReflectiveOperationException e) {
            return true;
        }
    }
}
