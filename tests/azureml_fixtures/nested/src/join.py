import os
import sys

a, b, out = sys.argv[1:4]
with open(os.path.join(out, "joined.txt"), "w") as f:
    f.write(open(a).read() + open(b).read())
