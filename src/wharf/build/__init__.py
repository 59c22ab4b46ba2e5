"""The builder: a Dockerfile parsed (parser, shell words, flags), turned into instructions, then
planned and executed on the engine; the build context filtered by .dockerignore (ignore).

Kept free of imports: the CLI imports ``build.ignore`` to filter a context before sending it.
"""
