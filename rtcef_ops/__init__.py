"""Operations for the embedded runtime: a local KRaft Kafka broker and a Flink standalone cluster.

Everything runs from the installed packages (the apache-flink wheel is a complete Flink distribution; the
Kafka broker classpath comes from Maven Central via ``runtime/pom.xml``), with state, logs and pid files
under ``run/`` in the project. ``python -m rtcef_ops --help`` lists the commands the Makefile calls.
"""
