import com.cloudbees.groovy.cps.NonCPS
import org.mlops.jenkins.StepArgs

/**
 * The whole ML pipeline from mlops.yaml as one declarative pipeline:
 * set up, data, validate data, train, evaluate, register (staging), [package], approve, promote, [deploy].
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
                when { expression { cfg.approval && state.model } }
                steps { script { runStage('Approve', cfg, state) } }
            }
            stage('Promote') {
                // With a Deploy stage the rollout moves the alias, and only once the version serves.
                when { expression { state.model != null && cfg.deploy == null } }
                steps { script { runStage('Promote', cfg, state) } }
            }
            stage('Deploy') {
                when { expression { cfg.deploy != null && state.model != null } }
                steps { script { runStage('Deploy', cfg, state) } }
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
                when { expression { cfg.approval && state.model } }
                steps { script { runStage('Approve', cfg, state) } }
            }
            stage('Promote') {
                // With a Deploy stage the rollout moves the alias, and only once the version serves.
                when { expression { state.model != null && cfg.deploy == null } }
                steps { script { runStage('Promote', cfg, state) } }
            }
            stage('Deploy') {
                when { expression { cfg.deploy != null && state.model != null } }
                steps { script { runStage('Deploy', cfg, state) } }
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
            // The rollout's pauses go to the pipeline's approvers unless `deploy` says otherwise.
            state.deployment = mlopsDeploy([config: cfg.config, version: state.model.version as Integer,
                approval: cfg.approval, approvers: cfg.approvers] + cfg.deploy)
            break
        case 'Report':
            archiveArtifacts(artifacts: '.mlops/*.json', allowEmptyArchive: true)
            break
        default:
            error("mlopsPipeline: no stage named '${name}'")
    }
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

@groovy.transform.Field
static final String OVERRIDES_HELP = 'Override mlops.yaml for this build, e.g. ' +
    '"training.params.max_depth=5 training.params.n_estimators=300" (space-separated KEY.PATH=VALUE).'

@groovy.transform.Field
static final String DATA_REV_HELP = 'Train on the data version recorded at this git commit or tag ' +
    '(empty: the checked-out one).'
