# Import a command's run by the UUID of its record in sandbox_processes (the command does not run again).
terraform import sandbox_command.seed 6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f
