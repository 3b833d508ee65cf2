"""An example Chaos Toolkit extension whose activities show up in the trace."""
from setuptools import setup

setup(
    name="chaostracing-demo",
    version="0.1.0",
    description="Example probes and actions traced by chaostracing",
    packages=["chaostracing_demo"],
    python_requires=">=3.8",
    install_requires=["requests", "opentracing>=2.4",
                      "chaostoolkit-opentracing"],
)
