"""``python -m recipes.vocoder <command> with key=value ...``

Commands: prepare, train, evaluate, export, synthesize (the stages of
run.sh); ``python -m recipes.vocoder print_config`` shows the config.
"""
from recipes.vocoder.experiment import ex

if __name__ == '__main__':
    ex.run_commandline()
