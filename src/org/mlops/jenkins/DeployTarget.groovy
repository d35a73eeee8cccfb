package org.mlops.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * Where a rollout runs: the `target`, `namespace` and `kubeconfigCredentialsId` arguments that
 * mlopsDeploy and mlopsRollout share. Their spec and checks live here once; so do the `--set`
 * words every `mlops` command of the rollout gets and the credentials binding (a `file` credential
 * bound to KUBECONFIG) that mlopsCli puts around each of those commands, and around nothing else.
 * Pure computation, no pipeline steps: the steps call `error` and `mlopsCli` themselves.
 */
class DeployTarget implements Serializable {

    private static final long serialVersionUID = 1L

    static final List TARGETS = ['local', 'kubernetes']

    /** The config keys the arguments override (`--set KEY=value`). */
    static final String TARGET_KEY = 'deploy.target'
    static final String NAMESPACE_KEY = 'deploy.kubernetes.namespace'

    /** Where the CLI's Kubernetes client reads the cluster and credentials from. */
    static final String KUBECONFIG = 'KUBECONFIG'

    /** A Kubernetes namespace name: a DNS-1123 label (the pattern mlops.yaml's deploy.kubernetes.namespace uses). */
    static final String DNS_LABEL = '[a-z0-9]+(-+[a-z0-9]+)*'
    static final int DNS_LABEL_MAX = 63

    /** StepArgs spec entries for the three arguments (a new Map on each call). */
    @NonCPS
    static Map spec() {
        return [
            target: [type: String, allowed: TARGETS],
            namespace: [type: String],
            kubeconfigCredentialsId: [type: String],
        ]
    }

    /** Problems StepArgs cannot see: the namespace's form, arguments that contradict `target` or `set`. */
    @NonCPS
    static List problems(Map args) {
        List problems = []
        Object namespace = args.namespace
        if (CharSequence.isInstance(namespace) && !validNamespace(namespace.toString())) {
            problems << "argument 'namespace' is '${namespace}': not a Kubernetes namespace name (a DNS-1123 " +
                "label: at most ${DNS_LABEL_MAX} lowercase letters, digits and '-', starting and ending with a " +
                'letter or digit)'
        }
        Object credentialsId = args.kubeconfigCredentialsId
        if (CharSequence.isInstance(credentialsId) && !credentialsId.toString().trim()) {
            problems << "argument 'kubeconfigCredentialsId' must not be empty"
        }
        if (args.target?.toString() == 'local') {
            ['namespace', 'kubeconfigCredentialsId'].each { key ->
                if (args[key] != null) {
                    problems << "argument '${key}' only applies to target 'kubernetes', not 'local'"
                }
            }
        }
        Map overrides = Map.isInstance(args.set) ? args.set as Map : [:]
        [target: TARGET_KEY, namespace: NAMESPACE_KEY].each { key, configKey ->
            if (args[key] != null && overrides.containsKey(configKey)) {
                problems << "give argument '${key}' or set '${configKey}', not both"
            }
        }
        return problems
    }

    @NonCPS
    static boolean validNamespace(String name) {
        return name.length() <= DNS_LABEL_MAX && name ==~ DNS_LABEL
    }

    /** `--set deploy.target=...` and `--set deploy.kubernetes.namespace=...`, for every command of the rollout. */
    @NonCPS
    static List overrides(Map cfg) {
        List words = []
        if (cfg.target) {
            words << '--set' << "${TARGET_KEY}=${cfg.target}".toString()
        }
        if (cfg.namespace) {
            words << '--set' << "${NAMESPACE_KEY}=${cfg.namespace}".toString()
        }
        return words
    }

    /** mlopsCli's `credentials`: the kubeconfig file bound to KUBECONFIG while one command runs, or none. */
    @NonCPS
    static List credentials(Map cfg) {
        if (!cfg.kubeconfigCredentialsId) {
            return []
        }
        return [[type: 'file', id: cfg.kubeconfigCredentialsId.toString(), variable: KUBECONFIG]]
    }

}
