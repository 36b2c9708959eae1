// Why: the pause/toolbox program has no dependencies; its own module keeps it
// out of the Kubernetes module's build graph.
module training-patterns/cluster/pause

go 1.24.0
