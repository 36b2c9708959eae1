"""Apache Flink as the runner of the Beam steps: the standalone cluster that
`tpctl flink up` starts on this host, its REST API, and the Beam worker pool."""
