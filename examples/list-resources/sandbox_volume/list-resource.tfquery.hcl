# Every live volume, including those of other Terraform configurations ("*"; by default only volumes that no
# configuration made and this configuration's own are listed).
list "sandbox_volume" "all" {
  provider = sandbox

  config {
    scope = "*"
  }
}
