"""The vocabulary every Bucketwatch package shares, owned by the lowest layer.

Layers, lowest first: ``detectors.common`` ← ``detectors`` ← ``policies`` ← ``infra`` ←
``bucketwatch`` (the CLI glue). A module may import from its own layer or a lower one, never a
higher one, so the Lambda bundle and the synth-time gate never pull in the command line.

- ``errors``:   ``UserError``, the one error type shown as one line with an exit code.
- ``severity``: the one severity scale (Info < Low < Medium < High < Critical).
- ``validate``: the one validator style for configuration (errors name the key path).
- ``version``:  the package version.
- ``exitcodes``: the one exit-code table of every command.
- ``table`` / ``words``: the one table printer, and counted nouns ("1 file", "2 files").
- ``lazy``: package exports loaded on first use (keeps pyarrow out of config validation).
- ``config_file`` / ``organization`` / ``yamlsafe``: the config file schema and its loader.
"""
