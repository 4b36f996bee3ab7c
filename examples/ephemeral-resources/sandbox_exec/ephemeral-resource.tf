resource "sandbox_sandbox" "issuer" {
  purpose = "tokens"
}

resource "sandbox_command" "mint" {
  sandbox_id = sandbox_sandbox.issuer.id
  command    = ["sh", "-c", "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n' > token"]
}

# Read the token generated in the sandbox without ever storing it in state. `after` (not depends_on) makes the
# exec wait for the mint: Terraform opens ephemeral resources during every plan, and would run `cat token` before
# the mint ran whenever the sandbox already exists. The mint's id is unknown until it ran, so the exec waits.
ephemeral "sandbox_exec" "token" {
  sandbox_id = sandbox_sandbox.issuer.id
  command    = ["cat", "token"]
  after      = [sandbox_command.mint.id]
}

# Hand it to another command through a write-only argument.
resource "sandbox_command" "use_token" {
  sandbox_id = sandbox_sandbox.issuer.id
  command    = ["sh", "-c", "test -n \"$TOKEN\" && echo token received"]
  env_wo     = { TOKEN = trimspace(ephemeral.sandbox_exec.token.stdout) }
  # Bump it (with the mint's triggers) to run this again with a new token: Terraform cannot see env_wo change.
  env_wo_version = 1
}
