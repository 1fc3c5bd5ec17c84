package io.clustermd.cmd;

import io.clustermd.md.MdFormatException;
import io.clustermd.md.MemberMetadata;
import io.clustermd.md.MemberMetadataReader;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reads a member for an offline command, turning failures into one-line messages. */
final class MemberReading {

    private MemberReading() {
    }

    /** The member's metadata, or null after printing why it cannot be read. */
    static MemberMetadata readOrReport(Path member, PrintWriter err) {
        try {
            return MemberMetadataReader.read(member);
        } catch (NoSuchFileException e) {
            err.println("clusterctl: " + member + ": no such file or device");
        } catch (MdFormatException e) {
            err.println("clusterctl: " + e.getMessage());
        } catch (IOException e) {
            err.println("clusterctl: " + member + ": cannot read: " + e.getMessage());
        }
        return null;
    }
}
