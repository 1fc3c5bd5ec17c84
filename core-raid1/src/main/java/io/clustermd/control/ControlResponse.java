package io.clustermd.control;

import java.util.Objects;

/**
 * One response line: {@code {"ok":true,"status":{...}}} or {@code {"ok":false,"error":"one-line reason"}}.
 *
 * @param ok     whether the request was carried out
 * @param status the array after the request (status and member/sync requests); null for stop and errors
 * @param error  one line saying what is wrong and what to do; null when ok
 */
public record ControlResponse(boolean ok, ArrayStatus status, String error) {

    public ControlResponse {
        if (ok && error != null) {
            throw new IllegalArgumentException("a successful response carries no error");
        }
        if (!ok) {
            Objects.requireNonNull(error, "error");
            error = ControlException.oneLine(error);
        }
    }

    public static ControlResponse success(ArrayStatus status) {
        return new ControlResponse(true, status, null);
    }

    public static ControlResponse success() {
        return new ControlResponse(true, null, null);
    }

    public static ControlResponse failure(String message) {
        return new ControlResponse(false, null, message);
    }
}
