import sys

numbers, factor, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [line for line in open(numbers) if not line.startswith("#")]
with open(out, "w") as f:
    f.write("\n".join(str(int(x) * factor) for x in lines) + "\n")
