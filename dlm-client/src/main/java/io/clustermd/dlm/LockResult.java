package io.clustermd.dlm;

import java.util.Arrays;
import java.util.Objects;

/**
 * The completion of one lock operation: what libdlm's completion AST reports through the lksb
 * ({@code sb_status}, {@code sb_flags}, {@code sb_lvbptr}).
 *
 * @param status how it ended
 * @param mode the mode the lock is held in afterwards, {@code null} if not held
 * @param lvb a copy of the lock value block when the operation read it (VALBLK on a grant that
 *     reads), else {@code null}
 * @param valNotValid {@code DLM_SBF_VALNOTVALID}: the LVB that was read cannot be trusted, because
 *     a PW/EX holder died (or someone used IVVALBLK) since it was last written
 * @param cause why the operation {@link LockStatus#FAILED}, else {@code null}
 */
public record LockResult(LockStatus status, LockMode mode, byte[] lvb, boolean valNotValid, Throwable cause) {

    public LockResult {
        Objects.requireNonNull(status, "status");
        lvb = lvb == null ? null : lvb.clone();
    }

    /** True if the requested mode was granted. */
    public boolean granted() {
        return status == LockStatus.GRANTED;
    }

    @Override
    public byte[] lvb() {
        return lvb == null ? null : lvb.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LockResult r && status == r.status && mode == r.mode
                && Arrays.equals(lvb, r.lvb) && valNotValid == r.valNotValid && Objects.equals(cause, r.cause);
    }

    @Override
    public int hashCode() {
        return Objects.hash(status, mode, Arrays.hashCode(lvb), valNotValid, cause);
    }

    @Override
    public String toString() {
        return "LockResult[" + status + (mode == null ? "" : " " + mode) + (valNotValid ? " VALNOTVALID" : "")
                + (cause == null ? "" : " cause=" + cause) + "]";
    }
}
