resource "sandbox_sandbox" "issuer" {
  purpose = "tokens"
}

resource "sandbox_command" "mint" {
  sandbox_id = sandbox_sandbox.issuer.id
  command    = ["sh", "-c", "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n' > token"]
}

# Read the token generated in the sandbox without ever storing it in state.
ephemeral "sandbox_exec" "token" {
  sandbox_id = sandbox_sandbox.issuer.id
  command    = ["cat", "token"]
  depends_on = [sandbox_command.mint]
}

# Hand it to another command through a write-only argument.
resource "sandbox_command" "use_token" {
  sandbox_id = sandbox_sandbox.issuer.id
  command    = ["sh", "-c", "test -n \"$TOKEN\" && echo token received"]
  env_wo     = { TOKEN = ephemeral.sandbox_exec.token.stdout }
}
