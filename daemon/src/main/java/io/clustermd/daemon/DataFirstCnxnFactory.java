package io.clustermd.daemon;

import org.apache.zookeeper.server.NIOServerCnxnFactory;
import org.apache.zookeeper.server.ZooKeeperServer;

import java.io.IOException;

/**
 * The coordinator's client connection factory: ZooKeeper's NIO one, except that the server's
 * database is loaded before the port takes connections.
 *
 * <p>Why: ZooKeeper 3.9 starts accepting connections first and loads its database after. A client
 * that reconnects in that instant (every node does, right after a coordinator restart) is refused
 * with "ZooKeeperServer not running", and closing its connection then fails on the database that
 * does not exist yet ({@code NullPointerException} in {@code removeCnxn}): the socket stays open,
 * the client waits its whole read timeout (2/3 of the session timeout) before trying again, and a
 * node can fence itself although the coordinator was back within the session timeout. With the
 * database loaded first, such a connection is closed at once and the client reconnects.
 */
public final class DataFirstCnxnFactory extends NIOServerCnxnFactory {

    @Override
    public void startup(ZooKeeperServer zks, boolean startServer) throws IOException, InterruptedException {
        if (startServer) {
            zks.startdata();   // idempotent: the startup below finds the database loaded
        }
        super.startup(zks, startServer);
    }
}
