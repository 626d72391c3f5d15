# bash completion for synack(1): its verbs and their options, interface names, the pids of
# running synack programs, ss's state names. Installed as
# share/bash-completion/completions/synack (shim/meson.build).

# The pids that answer on an abstract @synack.<pid> socket in this network namespace.
_synack_pids() {
	sed -nE 's/.* @synack\.([0-9]+)$/\1/p' /proc/net/unix 2>/dev/null | sort -un
}

_synack_ifaces() {
	local d
	for d in /sys/class/net/*; do
		[[ -e $d ]] && printf '%s\n' "${d##*/}"
	done
}

_synack() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} verb=${COMP_WORDS[1]:-}
	local i words
	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
		mapfile -t COMPREPLY < <(compgen -W "run ss stat check iface lab --help" -- "$cur")
		return
	fi
	case $verb in
	run)
		# After "--": the program and its own arguments.
		for ((i = 2; i < COMP_CWORD; i++)); do
			if [[ ${COMP_WORDS[i]} == -- ]]; then
				if ((i + 1 == COMP_CWORD)); then
					mapfile -t COMPREPLY < <(compgen -c -- "$cur")
				elif declare -F _command_offset >/dev/null; then
					_command_offset $((i + 1))
				else
					mapfile -t COMPREPLY < <(compgen -f -- "$cur")
				fi
				return
			fi
		done
		case $prev in
		--iface) words=$(_synack_ifaces) ;;
		--pcap)
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return
			;;
		--addr | --gateway) return ;;
		*) words="--iface --addr --gateway --pcap --trace --strict --force --help --" ;;
		esac
		;;
	ss)
		case $prev in
		-p | --pid) words=$(_synack_pids) ;;
		state)
			words="established syn-sent syn-recv fin-wait-1 fin-wait-2 time-wait closed
				close-wait last-ack listening closing all connected synchronized bucket big"
			;;
		*) words="-p -i -l -a -t -n state --help" ;;
		esac
		;;
	stat)
		case $prev in
		-p | --pid) words=$(_synack_pids) ;;
		*) words="-p -a -r --help" ;;
		esac
		;;
	check)
		case $prev in
		--iface) words=$(_synack_ifaces) ;;
		--addr) return ;;
		*) words="--iface --addr --help" ;;
		esac
		;;
	iface)
		if ((COMP_CWORD == 2)); then
			words="add del"
		elif [[ ${COMP_WORDS[2]} == del ]]; then
			((COMP_CWORD == 3)) && words=$(_synack_ifaces)
		else
			case $prev in
			--parent) words=$(_synack_ifaces) ;;
			--mode) words="macvlan ipvlan" ;;
			add) return ;; # the new name
			*) words="--parent --mode" ;;
			esac
		fi
		;;
	lab)
		((COMP_CWORD == 2)) && words="up down status"
		;;
	esac
	[[ -n ${words:-} ]] && mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
	return 0
}
complete -F _synack synack
