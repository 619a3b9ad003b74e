# tests/lib.sh: pass/fail counting for the shell tests (POSIX sh), sourced
# after setting `suite` to the name the summary line starts with.
#   ok DESCRIPTION / fail DESCRIPTION   count and print one result
#   skip DESCRIPTION                    count and print one skipped part
#   t DESCRIPTION COMMAND...            one assertion: ok if COMMAND succeeds
#   finish                              prints "<suite>: N passed, M failed"
#                                       (", K skipped" when some were) and
#                                       exits non-zero on any failure
passed=0
failed=0
skipped=0
ok() { passed=$((passed + 1)); printf 'ok   - %s\n' "$*"; }
skip() { skipped=$((skipped + 1)); printf 'SKIP - %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL - %s\n' "$*"; }
t() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}
finish() {
	if [ "$skipped" -gt 0 ]; then
		echo "$suite: $passed passed, $failed failed, $skipped skipped"
	else
		echo "$suite: $passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
	exit
}
