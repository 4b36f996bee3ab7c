# Runs once; every sandbox or workspace with setup_id starts from its result without running it again.
resource "sandbox_setup" "toolchain" {
  command = ["sh", "-c", "mkdir -p tools && echo 'echo hello from the setup' > tools/hello.sh && chmod +x tools/hello.sh"]
  timeout = "5m"
}

resource "sandbox_sandbox" "agent" {
  purpose  = "agent"
  setup_id = sandbox_setup.toolchain.id
}

resource "sandbox_command" "hello" {
  sandbox_id = sandbox_sandbox.agent.id
  command    = ["sh", "tools/hello.sh"]
}
