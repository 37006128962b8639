import os
import sys

a, b, out = sys.argv[1:4]


def read(path):
    # a uri_file output is a path inside a folder: read the one file there
    return open(os.path.join(path, os.listdir(path)[0])).read()


with open(os.path.join(out, "joined.txt"), "w") as f:
    f.write(read(a) + read(b))
