module github.com/gopherops/gopherops/migrations

go 1.26.0
