import com.cloudbees.groovy.cps.NonCPS
import org.mlops.jenkins.StepArgs

/**
 * The whole ML pipeline from mlops.yaml as one declarative pipeline:
 * set up, data, validate data, train, evaluate, register (staging), [package], approve, promote, [deploy];
 * with `deploy.staging`: deploy to staging, approve production, deploy to production instead of approve and deploy.
 * `mlopsPipeline(config: 'mlops.yaml')` is a complete Jenkinsfile.
 */
void call(Map args = [:]) {
    Map checked = StepArgs.check('mlopsPipeline', args, [
        config: [type: String, default: 'mlops.yaml'],
        approval: [type: Boolean, default: true],
        approvers: [type: String],
        agent: [type: String, default: 'any'],
        podTemplate: [type: String, default: 'org/mlops/jenkins/agent-pod.yaml'],
        onGateFailure: [type: String, default: 'FAILURE', allowed: ['FAILURE', 'UNSTABLE']],
        timeoutMinutes: [type: Integer, default: 60],
        setup: [type: Map, default: [:]],
        packaging: [type: Map],
        deploy: [type: Map],
    ])
    if (checked.error) {
        error(checked.error)
    }
    if (args.deploy?.containsKey('version') || args.deploy?.containsKey('alias')) {
        error("mlopsPipeline: 'deploy' must not set 'version' or 'alias': it deploys the version it registered")
    }
    Map cfg = checked.args
    if (staged(cfg)) {
        // Both rollouts' arguments are checked now, not after an hour of training (or after staging).
        String problems = stagingProblems(cfg)
        if (problems) {
            error(problems)
        }
    }
    // Declarative agents cannot be chosen inside `agent {}`, so each kind has its own
    // pipeline block; both run the same stages through runStage().
    if (cfg.agent == 'kubernetes') {
        kubernetesPipeline(cfg, libraryResource(cfg.podTemplate))
    } else {
        labelPipeline(cfg, cfg.agent == 'any' ? '' : cfg.agent)
    }
}

void labelPipeline(Map cfg, String agentLabel) {
    Map state = [:]
    pipeline {
        agent { label agentLabel }
        options {
            timeout(time: cfg.timeoutMinutes, unit: 'MINUTES')
            disableConcurrentBuilds()
        }
        parameters {
            string(name: 'HYPERPARAMETERS', defaultValue: '', description: OVERRIDES_HELP)
            string(name: 'DATA_REV', defaultValue: '', description: DATA_REV_HELP)
        }
        stages {
            stage('Set up') { steps { script { runStage('Set up', cfg, state) } } }
            stage('Data') { steps { script { runStage('Data', cfg, state) } } }
            stage('Validate data') { steps { script { runStage('Validate data', cfg, state) } } }
            stage('Train') { steps { script { runStage('Train', cfg, state) } } }
            stage('Evaluate') { steps { script { runStage('Evaluate', cfg, state) } } }
            stage('Register') { steps { script { runStage('Register', cfg, state) } } }
            stage('Package') {
                when { expression { cfg.packaging != null && state.model != null } }
                steps { script { runStage('Package', cfg, state) } }
            }
            stage('Approve') {
                // With deploy.staging the approval comes after staging: 'Approve production'.
                when { expression { cfg.approval && state.model && !staged(cfg) } }
                steps { script { runStage('Approve', cfg, state) } }
            }
            stage('Promote') {
                // With a Deploy stage the rollout moves the alias, and only once the version serves.
                when { expression { state.model != null && cfg.deploy == null } }
                steps { script { runStage('Promote', cfg, state) } }
            }
            stage('Deploy') {
                when { expression { cfg.deploy != null && state.model != null && !staged(cfg) } }
                steps { script { runStage('Deploy', cfg, state) } }
            }
            stage('Deploy to staging') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to staging', cfg, state) } }
            }
            stage('Approve production') {
                when { expression { cfg.approval && staged(cfg) && state.model != null } }
                steps { script { runStage('Approve production', cfg, state) } }
            }
            stage('Deploy to production') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to production', cfg, state) } }
            }
        }
        post {
            always { script { runStage('Report', cfg, state) } }
        }
    }
}

void kubernetesPipeline(Map cfg, String podYaml) {
    Map state = [:]
    pipeline {
        agent {
            kubernetes {
                yaml podYaml
                defaultContainer 'mlops'
            }
        }
        options {
            timeout(time: cfg.timeoutMinutes, unit: 'MINUTES')
            disableConcurrentBuilds()
        }
        parameters {
            string(name: 'HYPERPARAMETERS', defaultValue: '', description: OVERRIDES_HELP)
            string(name: 'DATA_REV', defaultValue: '', description: DATA_REV_HELP)
        }
        stages {
            stage('Set up') { steps { script { runStage('Set up', cfg, state) } } }
            stage('Data') { steps { script { runStage('Data', cfg, state) } } }
            stage('Validate data') { steps { script { runStage('Validate data', cfg, state) } } }
            stage('Train') { steps { script { runStage('Train', cfg, state) } } }
            stage('Evaluate') { steps { script { runStage('Evaluate', cfg, state) } } }
            stage('Register') { steps { script { runStage('Register', cfg, state) } } }
            stage('Package') {
                when { expression { cfg.packaging != null && state.model != null } }
                steps { script { runStage('Package', cfg, state) } }
            }
            stage('Approve') {
                // With deploy.staging the approval comes after staging: 'Approve production'.
                when { expression { cfg.approval && state.model && !staged(cfg) } }
                steps { script { runStage('Approve', cfg, state) } }
            }
            stage('Promote') {
                // With a Deploy stage the rollout moves the alias, and only once the version serves.
                when { expression { state.model != null && cfg.deploy == null } }
                steps { script { runStage('Promote', cfg, state) } }
            }
            stage('Deploy') {
                when { expression { cfg.deploy != null && state.model != null && !staged(cfg) } }
                steps { script { runStage('Deploy', cfg, state) } }
            }
            stage('Deploy to staging') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to staging', cfg, state) } }
            }
            stage('Approve production') {
                when { expression { cfg.approval && staged(cfg) && state.model != null } }
                steps { script { runStage('Approve production', cfg, state) } }
            }
            stage('Deploy to production') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to production', cfg, state) } }
            }
        }
        post {
            always { script { runStage('Report', cfg, state) } }
        }
    }
}

/** The body of each stage; `state` carries results from one stage to the next. */
void runStage(String name, Map cfg, Map state) {
    switch (name) {
        case 'Set up':
            Map overrides = parseOverrides(params.HYPERPARAMETERS ?: '')
            if (overrides.invalid) {
                error("mlopsPipeline: HYPERPARAMETERS items ${overrides.invalid} are not KEY.PATH=VALUE " +
                    '(e.g. training.params.max_depth=5)')
            }
            state.overrides = overrides.values
            state.setup = mlopsSetup(cfg.setup)
            break
        case 'Data':
            mlopsData(action: 'pull', config: cfg.config, rev: params.DATA_REV ?: null)
            break
        case 'Validate data':
            mlopsValidateData(config: cfg.config, set: state.overrides, onFailure: cfg.onGateFailure)
            break
        case 'Train':
            state.training = mlopsTrain(config: cfg.config, set: state.overrides)
            break
        case 'Evaluate':
            state.evaluation = mlopsEvaluate(config: cfg.config, set: state.overrides, onFailure: cfg.onGateFailure)
            break
        case 'Register':
            // An UNSTABLE gate lets the build finish, but such a model is never registered.
            if ((currentBuild.result ?: 'SUCCESS') == 'SUCCESS') {
                state.model = mlopsRegister(config: cfg.config, set: state.overrides, stage: 'staging')
            } else {
                echo "mlopsPipeline: build is ${currentBuild.result}: the model is not registered"
            }
            break
        case 'Package':
            state.image = mlopsPackage([config: cfg.config, model: "@${state.model.version}"] + cfg.packaging)
            break
        case 'Approve':
            input(message: "Promote ${state.model.name} v${state.model.version} to production?", ok: 'Promote',
                submitter: cfg.approvers)
            break
        case 'Promote':
            mlopsCli(args: ['registry', 'promote', "${state.model.name}@${state.model.version}", '--to', 'production',
                '--config', cfg.config], step: 'mlopsPipeline')
            currentBuild.description = "${state.model.name} v${state.model.version} in production"
            break
        case 'Deploy':
        case 'Deploy to production':
            // The rollout's pauses go to the pipeline's approvers unless `deploy` says otherwise.
            state.deployment = mlopsDeploy(productionDeployArgs(cfg, state.model.version as Integer))
            break
        case 'Deploy to staging':
            // Nobody is asked in staging: its pauses are promoted at once (autoPromote), its analyses still
            // decide; the human decision is 'Approve production'.
            state.staging = mlopsDeploy(stagingDeployArgs(cfg, state.model.version as Integer))
            break
        case 'Approve production':
            // Rejected: the build ends ABORTED here; production is never touched, staging keeps the version.
            String model = "${state.model.name} v${state.model.version}"
            try {
                input(message: "Promote ${model} to production? ${stagingText(cfg, state.staging)}", ok: 'Promote',
                    submitter: cfg.approvers)
            } catch (InterruptedException rejected) {
                String why = mlopsDeploy.interruptionReason(rejected)
                echo "mlopsPipeline: ${model} not promoted to production (${why}); production is unchanged, " +
                    'staging keeps the new version'
                currentBuild.description = "${model} in staging, not promoted to production (${why})"
                throw rejected
            }
            break
        case 'Report':
            archiveArtifacts(artifacts: '.mlops/*.json', allowEmptyArchive: true)
            break
        default:
            error("mlopsPipeline: no stage named '${name}'")
    }
}

/** True when `deploy.staging` asks for the staging → approval → production stages. */
@NonCPS
boolean staged(Map cfg) {
    return cfg.deploy != null && cfg.deploy.staging != null
}

/** The staging Map's keys, then the arguments both rollouts will get, as one message, or null. */
String stagingProblems(Map cfg) {
    Object staging = cfg.deploy.staging
    if (!Map.isInstance(staging)) {
        return "mlopsPipeline: argument 'deploy.staging' must be a Map, got ${staging.getClass().simpleName} " +
            "'${staging}'"
    }
    String keyProblems = StepArgs.check('mlopsPipeline: deploy.staging', staging as Map, STAGING_SPEC).error
    if (keyProblems) {
        return keyProblems
    }
    Map stagingArgs = stagingDeployArgs(cfg, null)
    Map productionArgs = productionDeployArgs(cfg, null)
    List problems = []
    String production = mlopsDeploy.argumentErrors('mlopsPipeline: deploy', productionArgs)
    if (production) {
        problems << production
    }
    String stagingError = mlopsDeploy.argumentErrors('mlopsPipeline: deploy.staging', stagingArgs)
    if (stagingError) {
        problems << stagingError
    }
    if (stagingArgs.environment == (productionArgs.environment ?: 'production')) {
        problems << "mlopsPipeline: deploy.staging: 'environment' is '${stagingArgs.environment}', the environment " +
            "'deploy' rolls out to; staging needs an environment of its own"
    }
    return problems ? problems.join('; ') : null
}

/** mlopsDeploy's arguments for production: the pipeline's config and approval, then `deploy` without `staging`. */
@NonCPS
Map productionDeployArgs(Map cfg, Integer version) {
    Map args = [config: cfg.config, approval: cfg.approval, approvers: cfg.approvers]
    if (version != null) {
        args.version = version
    }
    cfg.deploy.each { key, value ->
        if (key != 'staging') {
            args[key] = value
        }
    }
    return args
}

/**
 * mlopsDeploy's arguments for staging: the staging Map's environment, strategy, namespace and
 * kubeconfigCredentialsId (default: deploy's); config, target, timeout, set and outDir as for production;
 * pauses promoted without an `input` (autoPromote).
 */
@NonCPS
Map stagingDeployArgs(Map cfg, Integer version) {
    Map deploy = cfg.deploy
    Map staging = StepArgs.check('mlopsPipeline: deploy.staging', deploy.staging as Map, STAGING_SPEC).args
    Map args = [config: cfg.config]
    STAGING_SHARES.each { key ->
        if (deploy.containsKey(key)) {
            args[key] = deploy[key]
        }
    }
    args += [environment: staging.environment, strategy: staging.strategy, autoPromote: true]
    if (version != null) {
        args.version = version
    }
    if (staging.namespace != null) {
        args.namespace = staging.namespace
    }
    Object credentialsId = staging.kubeconfigCredentialsId ?: deploy.kubeconfigCredentialsId
    if (credentialsId != null) {
        args.kubeconfigCredentialsId = credentialsId
    }
    return args
}

/** `It is live in staging (namespace models-staging) at http://...`, for the production approval. */
@NonCPS
String stagingText(Map cfg, Map result) {
    Map staging = stagingDeployArgs(cfg, null)
    String where = "${result?.env ?: staging.environment}"
    String namespace = staging.namespace ? " (namespace ${staging.namespace})" : ''
    String url = result?.url ? " at ${result.url}" : ''
    return "It is live in ${where}${namespace}${url}."
}

/** `training.params.max_depth=5 training.seed=7` (spaces or new lines) to [values: Map, invalid: List]. */
@NonCPS
Map parseOverrides(String text) {
    Map values = [:]
    List invalid = []
    text.split(/\s+/).findAll { item -> item }.each { item ->
        int equals = item.indexOf('=')
        if (equals < 1) {
            invalid << item
        } else {
            values[item.substring(0, equals)] = item.substring(equals + 1)
        }
    }
    return [values: values, invalid: invalid]
}

/** `deploy.staging`: where and how the version is tried before the production approval. */
@groovy.transform.Field
static final Map STAGING_SPEC = [
    namespace: [type: String],
    environment: [type: String, default: 'staging'],
    strategy: [type: String, default: 'recreate'],
    kubeconfigCredentialsId: [type: String],
]

/** The `deploy` arguments the staging rollout shares with production. */
@groovy.transform.Field
static final List STAGING_SHARES = ['config', 'target', 'timeout', 'set', 'outDir']

@groovy.transform.Field
static final String OVERRIDES_HELP = 'Override mlops.yaml for this build, e.g. ' +
    '"training.params.max_depth=5 training.params.n_estimators=300" (space-separated KEY.PATH=VALUE).'

@groovy.transform.Field
static final String DATA_REV_HELP = 'Train on the data version recorded at this git commit or tag ' +
    '(empty: the checked-out one).'
