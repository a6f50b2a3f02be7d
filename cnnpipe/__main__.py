from cnnpipe import interrupt

# First thing: a Ctrl-C or SIGTERM while the command starts up is counted, not a
# traceback from whatever module was being imported; the command then stops at once.
interrupt.install()
with interrupt.deferred():
    from cnnpipe.cli import main

if __name__ == "__main__":
    main()
