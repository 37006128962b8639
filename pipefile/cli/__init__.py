"""The `pipe` command line: `app` holds the group and the table of which module holds which
command (loaded only when asked for); `options` and `guard` are what every command module
shares; each other module is one command group, plain click commands."""
