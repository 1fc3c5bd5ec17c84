"""A service manager's notification socket (sd_notify(3)): binds a unix datagram socket at argv[1]
and appends every datagram received, one per line with newlines shown as '|', to argv[2]."""
import socket
import sys

sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    print("listening", file=out)
    while True:
        data = sock.recv(65536)
        print(data.decode("utf-8", "replace").replace("\n", "|"), file=out)
