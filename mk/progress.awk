# Counts the packages `go build -v` prints as it compiles them, on one
# rewritten line on a terminal (tty=1) or a line every 25 packages in a log;
# anything else (a compile error) is printed as it is.
/^[A-Za-z0-9._~\/-]+$/ {
  n++
  if (tty == 1) {
    printf "\r\033[K  compiled %d packages: %s", n, substr($0, 1, 60)
  } else if (n % 25 == 0) {
    printf "  compiled %d packages (%s)\n", n, $0
  }
  next
}
{
  if (tty == 1 && n > 0) printf "\n"
  print
}
END {
  if (n > 0) {
    if (tty == 1) printf "\r\033[K"
    printf "  compiled %d package%s\n", n, (n == 1 ? "" : "s")
  }
}
