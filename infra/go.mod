module github.com/gopherops/gopherops/infra

go 1.26.0
