# The setups on the local engine that an application made, at most 20 of them.
list "sandbox_setup" "local" {
  provider = sandbox
  limit    = 20

  config {
    backend = "local"
  }
}
