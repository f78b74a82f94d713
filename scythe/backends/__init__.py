"""Where tasks execute. Every backend runs batches through `scythe.run.task.run_batch`."""
