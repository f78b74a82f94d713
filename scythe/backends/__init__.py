"""Where tasks execute. Every backend runs batches through `scythe.task.run_batch`."""
