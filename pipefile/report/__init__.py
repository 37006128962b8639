"""The face's renderers: data of the lower layers in, text out (rich on a terminal, plain
lines otherwise; JSON shapes built here or by the commands). One module per thing rendered:
run (progress and summary), plan (status), dag, jobs, artifacts, metrics, remote, envs;
text holds the helpers they share. Nothing here decides anything."""
