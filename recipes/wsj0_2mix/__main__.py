"""``python -m recipes.wsj0_2mix <command> with key=value ...``

Commands: prepare, train, evaluate, export, separate (the stages of
run.sh); ``python -m recipes.wsj0_2mix print_config`` shows the config.
"""
from recipes.wsj0_2mix.experiment import ex

if __name__ == '__main__':
    ex.run_commandline()
